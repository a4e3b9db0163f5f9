"""Argument helpers shared by the ``python -m core`` subcommands (:mod:`core.cli`,
:mod:`core.cli_latents`, :mod:`core.cli_tools`)."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

from core.runs import runs
from core.validation import check_int


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line ``error: ...`` (exit status 2)."""

    def error(self, message):
        self.exit(2, f"error: {message}\n")


def wrap(text):
    # Descriptions are wrapped here; RawDescriptionHelpFormatter then keeps
    # the epilog's example command on one line.
    return textwrap.fill(text, 78)


#: The ``--run`` help of every command that reads a run or a latent set.
RUN_HELP = "run name (in artifacts/), a run folder path, or RUN/SET (a named latent set)"


def subcommand(sub, name, help, description, epilog):
    """A ``python -m core`` subcommand: its description wrapped, its epilog (the example) kept as written."""
    return sub.add_parser(name, help=help, description=wrap(description), epilog=epilog,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def parse_value(text):
    """A ``--param`` value: ``None``/``null`` -> None, then int, then float, else the string."""
    t = text.strip()
    if t.lower() in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    return t


_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyz_0123456789")


def key_value(text):
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or not set(key.lower()) <= _KEY_CHARS or not value.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, parse_value(value)


def sampler_key_value(text):
    name, sep, rest = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected SAMPLER:KEY=VALUE, got {text!r}")
    try:
        key, value = key_value(rest)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected SAMPLER:KEY=VALUE, got {text!r}") from None
    return name.strip(), key, value


def params_dict(pairs, what="--param"):
    out = {}
    for key, value in pairs or []:
        if key in out:
            raise ValueError(f"{what} {key} given twice ({out[key]!r} and {value!r})")
        out[key] = value
    return out


def dumps(obj):
    return json.dumps(runs.json_clean(obj), allow_nan=False)


def check_seed(seed):
    return check_int(seed, "--seed", low=0, high=2**32 - 1)

def out_prefix(text):
    prefix = Path(text)
    if prefix.suffix.lower() in (".npy", ".png"):
        prefix = prefix.with_suffix("")
    if not prefix.name or prefix.is_dir():
        raise ValueError(f"--out {text!r} must be a file prefix, not a folder")
    return prefix
