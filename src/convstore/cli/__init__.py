"""The command line: parse, call the library once, render. Nothing here touches a store."""
