"""Reading and writing a vocabulary's config (a JSON object) beside a model."""

import json

from kerasnlp_lab.errors import UserError


def save_config(path, config):
    """Writes `config` (a JSON-serializable dict) to `path` as UTF-8 JSON."""
    with open(path, "w", encoding="utf-8") as file:
        json.dump(config, file, ensure_ascii=False, indent=0)
        file.write("\n")


def load_config(path, required_key):
    """The JSON object in `path`; a UserError if it is missing, unreadable or lacks a key."""
    try:
        with open(path, encoding="utf-8") as file:
            config = json.load(file)
    except FileNotFoundError:
        raise UserError(f"vocabulary file not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"vocabulary file {path} is not valid UTF-8 JSON: {error}") from None
    if not isinstance(config, dict) or required_key not in config:
        raise UserError(
            f"vocabulary file {path}: expected a JSON object with a {required_key!r} key, "
            f"received {type(config).__name__}"
            + (f" with keys {sorted(config)}" if isinstance(config, dict) else "")
        )
    return config
