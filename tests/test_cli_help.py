"""``--help`` of the command and every sub-command: each option has a help string, and each
real default (not ``None``, not ``False``) is stated as ``(default: ...)``."""

from __future__ import annotations

import argparse

import pytest

from xlandslide.cli import _parser, main


def _subparsers(parser):
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


PARSER = _parser()
COMMANDS = sorted(_subparsers(PARSER))


def _documented(parser):
    """(action, its help as ``--help`` prints it) for every argument but ``-h``."""
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        yield action, formatter._expand_help(action) if action.help else ""


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_every_command_is_covered():
    assert {"demo", "ingest", "train", "predict", "cv", "zone"} <= set(COMMANDS)


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_states_defaults(command, capsys):
    parser = PARSER if command is None else _subparsers(PARSER)[command]
    with pytest.raises(SystemExit) as exit_:
        main(["--help"] if command is None else [command, "--help"])
    assert exit_.value.code == 0
    printed = _squash(capsys.readouterr().out)
    for action, text in _documented(parser):
        name = "/".join(action.option_strings) or action.dest
        assert text.strip(), f"{command} {name}: no help string"
        assert _squash(text) in printed, f"{command} {name}: help not printed"
        default = action.default
        if default is None or default is False or default is argparse.SUPPRESS:
            continue
        assert "(default:" in text, f"{command} {name}: default {default!r} not stated"


def test_list_defaults_read_as_typed():
    offsets = _subparsers(PARSER)["offsets"]
    (distances,) = (a for a in offsets._actions if a.dest == "distances")
    assert "(default: 30 100 300)" in offsets._get_formatter()._expand_help(distances)
