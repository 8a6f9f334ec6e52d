"""The ``rlhf-otel`` command line (minimal entry point; the lead's version replaces it)."""

from __future__ import annotations

from collections.abc import Sequence

from rlhf_otel._cli_commands import OneLineErrorParser, register

__all__ = ["build_parser", "main"]


def build_parser() -> OneLineErrorParser:
    """The argument parser with every subcommand."""
    parser = OneLineErrorParser(prog="rlhf-otel", description="Human feedback on LLM answers.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
