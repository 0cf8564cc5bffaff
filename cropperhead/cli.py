"""The ``cropperhead`` command: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from cropperhead import __version__

#: The commands run by Hydra (cropperhead/commands.py, imported only for them).
HYDRA_COMMANDS = ("train", "predict")
#: Modules that each define ``add_parser(subparsers)`` for one subcommand, in help order.
#: Imported lazily so that ``cropperhead --help`` stays fast.
SUBCOMMAND_MODULES = (
    "cropperhead.scan.cli",
    "cropperhead.report.cli",
    "cropperhead.predict.export_cli",
    "cropperhead.runs",
)


def _registrars() -> list[Callable[[argparse._SubParsersAction], None]]:
    return [importlib.import_module(name).add_parser for name in SUBCOMMAND_MODULES]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="cropperhead",
        description=(
            "Learn how a photographer crops and straightens from their own library, and "
            "suggest those crops on new photos. `cropperhead train` and `cropperhead "
            "predict` take Hydra overrides (as `python train.py` and `python predict.py` "
            "in a checkout); `cropperhead train --help` lists them."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Listed for the help only: main() hands their arguments to Hydra before argparse.
    sub.add_parser(
        "train",
        help="train on a scanned library: cropperhead train data=library data.root=DS "
        "[model=resnet34 ...] (Hydra overrides; --help lists them)",
    )
    sub.add_parser(
        "predict",
        help="suggest crops: cropperhead predict ckpt_path=CKPT input=PHOTOS "
        "[write_xmp=true ...] (Hydra overrides; --help lists them)",
    )
    for register in _registrars():
        register(sub)
    return parser


def _hydra_command(argv: Sequence[str]) -> tuple[str, list[str]] | None:
    """``(command, its arguments)`` when ``argv`` runs ``train`` or ``predict``."""
    for i, word in enumerate(argv):
        if word in HYDRA_COMMANDS:
            return word, list(argv[i + 1 :])
        if not word.startswith("-"):
            return None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    hydra_command = _hydra_command(argv)
    if hydra_command is not None:
        from cropperhead.commands import run_hydra_command

        return run_hydra_command(*hydra_command)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
