"""convstore: administer the conversation metadata of OpenHands deployments."""

__version__ = "0.1.0"
