"""The written parts of the man pages: what --help cannot hold.

``manpages`` generates each page's synopsis, options and examples from the app and
adds these sections. Prose uses two marks: ```literal``` for what is typed (bold)
and ``*placeholder*`` for what the reader replaces (italic). Examples are verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Definitions:
    """A list of terms, each with its explanation (a roff tagged paragraph)."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Example:
    lines: tuple[str, ...]
    caption: str = ""


Block = Paragraph | Definitions | Example
Sections = tuple[tuple[str, tuple[Block, ...]], ...]

NAME = "administer the conversation metadata of OpenHands deployments"

DESCRIPTION: tuple[Block, ...] = (
    Paragraph(
        "OpenHands keeps the metadata of a conversation in one of three places: a V0 "
        "`metadata.json` file in the file store (`sessions/`*id*`/metadata.json`), a V0 row "
        "of the `conversation_metadata` table (SaaS deployments), or a V1 row of the same "
        "table (SQLite or PostgreSQL). convstore reads every generation of each as one "
        "catalog, so an operator can list, inspect, rename, delete, migrate and verify "
        "conversations without OpenHands running. Each command has its own page, for "
        "example `convstore-list`(1)."
    ),
    Paragraph("Each store location is resolved on its own; the first of these that names it wins:"),
    Definitions(
        (
            (
                "1.",
                "the flags `--file-store` *directory* (the one that holds `sessions/`), or "
                "`s3://`*bucket*`/`*prefix* or `gs://`*bucket*`/`*prefix*, and "
                "`--db` *url* (a SQLAlchemy URL, or the path of a SQLite file). Giving either "
                "flag limits the run to the stores named by flags;",
            ),
            ("2.", "the environment variables `CONVSTORE_FILE_STORE` and `CONVSTORE_DB`;"),
            ("3.", "the configuration file (see FILES), or the one given with `--config`;"),
            (
                "4.",
                "OpenHands' own environment: `FILE_STORE` and `FILE_STORE_PATH`; `DB_HOST` "
                "and its companions; `OH_PERSISTENCE_DIR` (see ENVIRONMENT);",
            ),
            ("5.", "`~/.openhands` and `~/.openhands/openhands.db`, when they exist."),
        )
    ),
    Paragraph(
        "`convstore config` shows what was resolved and why, and whether each store is "
        "used. A store that a flag, an environment variable or the configuration file "
        "names must exist and be readable: otherwise every command stops with exit status "
        "3. Only the defaults may be absent (`not found, not used`). A file store without "
        "`sessions/` is an empty V0 store. A SQLite path that does not exist is an error, "
        "never a new empty database. Batch jobs end with a `stores:` line on standard "
        "error naming the stores they read. Passwords are masked in every message."
    ),
    Paragraph(
        "Standard output carries data only. Progress, hints and errors go to standard "
        "error; an error is one line there (a bad command line adds a second, pointing "
        "at the command's `--help`), and `--debug` adds its traceback. Tables show "
        "times relative to now on a terminal and as ISO 8601 anywhere else; colour follows "
        "the terminal and `NO_COLOR`."
    ),
    Paragraph(
        "Shell completion scripts for bash, zsh and fish complete commands, options, their "
        "values, and the conversation and user ids in the configured stores. "
        "`convstore completion` *shell* prints the one for a shell: "
        "`source <(convstore completion bash)` in `~/.bashrc`, "
        "`source <(convstore completion zsh)` in `~/.zshrc` after `compinit`, or "
        "`convstore completion fish > ~/.config/fish/completions/convstore.fish`; "
        "a package install also puts them where the shells look (see the README)."
    ),
)

EXIT_STATUS: tuple[Block, ...] = (
    Definitions(
        (
            ("0", "Success."),
            (
                "1",
                "A job found problems, or some items failed; `delete`: a conversation is "
                "blocked, or the confirmation was declined.",
            ),
            (
                "2",
                "Usage: a bad option, an invalid or ambiguous id, `--yes` needed when standard "
                "input is not a terminal.",
            ),
            (
                "3",
                "A store cannot be reached or read: a missing table, a database that is "
                "down, permission denied; or an output cannot be written.",
            ),
            ("4", "Not found."),
            (
                "5",
                "Conflict: the record changed since it was read, or another job holds the "
                "lock; `delete`: a conversation is in use.",
            ),
            ("130", "Interrupted."),
            (
                "141",
                "Standard output was closed before the command finished writing (a reader "
                "such as `head` stopped reading): the command stops there, silently, as a "
                "program ended by SIGPIPE would.",
            ),
        )
    ),
)

ENVIRONMENT: tuple[Block, ...] = (
    Definitions(
        (
            (
                "CONVSTORE_FILE_STORE",
                "The directory or bucket URL that holds `sessions/`, as `--file-store`.",
            ),
            ("CONVSTORE_DB", "A SQLAlchemy URL or the path of a SQLite file, as `--db`."),
            (
                "CONVSTORE_EVENTS_DIR",
                "Where V1 event files live, as `--events-dir`; by default `v1_conversations/` "
                "under `OH_PERSISTENCE_DIR`, else under the file store, else under "
                "`~/.openhands`.",
            ),
            (
                "FILE_STORE_PATH",
                "OpenHands' file store; used when no flag, `CONVSTORE_FILE_STORE` or "
                "configuration file names one. A directory, unless `FILE_STORE` names a "
                "cloud: then the bucket's name.",
            ),
            (
                "FILE_STORE",
                "OpenHands' file store backend: `s3` or `google_cloud` puts the file store "
                "in the bucket `FILE_STORE_PATH` (else `AWS_S3_BUCKET` or "
                "`GOOGLE_CLOUD_BUCKET_NAME`); `local` or unset, on disk.",
            ),
            ("AWS_S3_BUCKET", "The S3 bucket when `FILE_STORE=s3` and `FILE_STORE_PATH` is unset."),
            (
                "GOOGLE_CLOUD_BUCKET_NAME",
                "The GCS bucket when `FILE_STORE=google_cloud` and `FILE_STORE_PATH` is unset.",
            ),
            (
                "SHARED_EVENT_STORAGE_PROVIDER",
                "Where OpenHands 1.x keeps V1 event files (`s3`, `aws`, `google_cloud`, "
                "`gcp`; else `FILE_STORE`): the bucket `FILE_STORE_PATH`.",
            ),
            (
                "AWS_ACCESS_KEY_ID",
                "With `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), the S3 credentials; "
                "else the profile `AWS_PROFILE` of `~/.aws/credentials`, else the instance's "
                "or container's role. `convstore config` says which, never the key.",
            ),
            (
                "AWS_S3_ENDPOINT",
                "An S3-compatible endpoint (MinIO, a local server), as OpenHands takes it; "
                "`AWS_S3_SECURE` (default `true`) says https or http. `AWS_ENDPOINT_URL` "
                "when it is unset.",
            ),
            (
                "AWS_PROFILE",
                "With `AWS_REGION`, `AWS_DEFAULT_REGION`, `AWS_CONFIG_FILE` and "
                "`AWS_SHARED_CREDENTIALS_FILE`: read as the AWS tools read them.",
            ),
            (
                "GOOGLE_APPLICATION_CREDENTIALS",
                "A GCS service account or authorized-user file; else application default "
                "credentials. `STORAGE_EMULATOR_HOST` points at a GCS emulator.",
            ),
            (
                "OH_PERSISTENCE_DIR",
                "OpenHands' persistence directory: its `openhands.db` is the database when "
                "nothing before it names one, `DB_HOST` included.",
            ),
            (
                "DB_HOST",
                "OpenHands' PostgreSQL server. When set, the database is "
                "`postgresql://`*DB_USER*`:`*DB_PASS*`@`*DB_HOST*`:`*DB_PORT*`/`*DB_NAME*, "
                "unless a flag, `CONVSTORE_DB` or the configuration file names one.",
            ),
            ("DB_PORT", "Its port; 5432 when unset."),
            ("DB_NAME", "Its database; `openhands` when unset."),
            ("DB_USER", "Its user; `postgres` when unset."),
            ("DB_PASS", "Its password; `postgres` when unset, none when set but empty."),
            (
                "PGPASSWORD",
                "The PostgreSQL password when the URL has none (read by libpq, as is `~/.pgpass`).",
            ),
            ("NO_COLOR", "When set and not empty, no output is coloured."),
            (
                "CONVSTORE_CONNECT_TIMEOUT",
                "Seconds to wait for a database server or a bucket before giving up with exit "
                "status 3, "
                "unless `--connect-timeout` is given (10 when neither is, nor the "
                "configuration file's `connect_timeout`).",
            ),
            (
                "CONVSTORE_COMPLETION_TIMEOUT",
                "Seconds a Tab may take, counted from when the shell starts convstore (1 "
                "when unset); ids the stores have not sent by then are not offered.",
            ),
            (
                "XDG_CONFIG_HOME",
                "On Linux, the directory that holds `convstore/config.toml` "
                "(`~/.config` when unset).",
            ),
        )
    ),
)

FILES: tuple[Block, ...] = (
    Definitions(
        (
            (
                "~/.config/convstore/config.toml",
                "The configuration file on Linux (`$XDG_CONFIG_HOME/convstore/config.toml`); "
                "`~/Library/Application Support/convstore/config.toml` on macOS. TOML with the "
                "keys `file_store`, `db`, `events_dir` and `connect_timeout`, each optional "
                "and each the same as its flag.",
            ),
            (
                "~/.openhands/sessions/*id*/metadata.json",
                "The V0 file store OpenHands uses by default; read when it exists.",
            ),
            (
                "~/.openhands/openhands.db",
                "The SQLite database OpenHands uses by default; read when it exists.",
            ),
            ("~/.pgpass", "PostgreSQL passwords, read by libpq."),
        )
    ),
    Example(
        ('file_store = "/srv/openhands"', 'db = "postgresql://openhands@db.internal/openhands"'),
        caption="A configuration file:",
    ),
)

EXAMPLES: tuple[Block, ...] = (
    Example(
        (
            "convstore sample /tmp/demo",
            "convstore list --file-store /tmp/demo --db /tmp/demo/openhands.db",
        ),
        caption="Try every command on a demo store:",
    ),
    Example(
        ("convstore config", "convstore list --since 7d --user alice"),
        caption="See where convstore looks, then the last week of one user:",
    ),
    Example(
        (
            "# m  h  dom mon dow  command",
            "15 3 * * *    $HOME/.local/bin/convstore verify --fail-on warning",
            "30 4 * * 0    $HOME/.local/bin/convstore delete --older-than 180d --yes",
        ),
        caption=(
            "Lines for `crontab -e`: verify the stores every night (cron mails what it prints, "
            "and the exit status says whether anything was found), and every Sunday delete "
            "the conversations not updated for 180 days (`--yes`, because cron has no "
            "terminal to confirm on):"
        ),
    ),
)

SEE_ALSO_EXTRA = ("crontab(5)",)

# Per command: paragraphs that follow its --help text in DESCRIPTION.
COMMAND_NOTES: dict[str, tuple[Block, ...]] = {
    "list": (
        Paragraph(
            "`--user` is the exact user id, never a substring (files that carry only "
            "`github_user_id` are found by that id); `--repo` and `--title` match "
            "case-insensitive substrings (`%` and `_` match themselves). Times are an ISO "
            "8601 date or time, or an age such as `7d` or `12h`. Conversations without the "
            "sort value come last in either direction. "
            "JSON output uses the field names of `metadata.json`, plus `store`, `version` "
            "and `problems`."
        ),
        Paragraph(
            "`--sort title` ignores case: titles compare with the letters A to Z lowered and "
            "every other character as it is, by code point, the same way in every store "
            "(`apple` before `Write release notes`; letters beyond ASCII keep their case "
            "and come after `z`); titles alike but for case come in id order. A "
            "`--sort title` cursor from an older convstore, whose title order was "
            "case-sensitive, is refused."
        ),
        Paragraph(
            "On a terminal a key press shows the next page (`q` quits). Otherwise one page is "
            "printed and, when more remain, the last line on standard error is `more: "
            "--cursor` *token*: pass it back for the next page. Cursors are keyset "
            "positions, so pages never skip or repeat a conversation while the stores "
            "change. `--all` streams everything."
        ),
    ),
    "show": (
        Paragraph(
            "Every command takes a conversation id in any spelling of a UUID (hex or "
            "dashed, either case), or a prefix of 8 or more hex digits that begins one "
            "conversation's id; a prefix that begins several is a usage error naming them."
        ),
        Paragraph(
            "The twin is the same conversation in the other version: the V1 row of a V0 "
            "conversation whose id is a UUID, or the reverse. Problems are what OpenHands "
            "would reject when reading the record."
        ),
    ),
    "rename": (
        Paragraph(
            "The title is written atomically (a V0 file through a temporary file and a "
            "rename, a row in a transaction) and only if the record is still as it was "
            "read; otherwise nothing is written and the exit status is 5."
        ),
    ),
    "delete": (
        Paragraph(
            "Every form of a conversation is deleted, or none: its V1 row and V1 event "
            "directory, and the V0 directory and V0 row it was migrated from, which would "
            "otherwise bring it back. What would be removed is shown first, on standard "
            "output, then confirmed on a terminal; without a terminal `--yes` is required, "
            "and declining exits 1. `--older-than` selects every conversation all of whose "
            "forms were last updated before then (`--user` and `--version` narrow it)."
        ),
        Paragraph(
            "A parent goes only with its sub-conversations: it is blocked when one would "
            "remain, unless `--with-sub-conversations`. A conversation OpenHands is using "
            "(`execution_status` running, or its metadata or events changed within "
            "`--active-within`) stays, unless `--force`. Neither stops the others. The exit "
            "status is 1 when one is blocked, else 5 when one is in use, else 0; `--dry-run` "
            "exits as the run would. A symbolic link out of the file store is never followed."
        ),
    ),
    "config": (
        Paragraph(
            "Each store location with its source: a flag, an environment variable, the "
            "configuration file, OpenHands' environment or the default. Passwords are "
            "shown as `***`."
        ),
    ),
}
