"""Named config presets: what every model's `get_config(preset, **overrides)` does."""

import dataclasses

from kerasnlp_lab.errors import UserError


def preset_config(model_name, presets, default_preset, preset=None, **overrides):
    """The config of `presets[preset]` (default `default_preset`) with `overrides` applied.

    Overrides whose value is None are ignored (a flag not given); an unknown preset name
    is a UserError that lists the known ones.
    """
    preset = preset or default_preset
    if preset not in presets:
        raise UserError(
            f"Unknown {model_name} preset {preset!r}: expected one of {', '.join(presets)}."
        )
    overrides = {key: value for key, value in overrides.items() if value is not None}
    return dataclasses.replace(presets[preset], **overrides)
