"""One module per `ise-trace` subcommand; each exposes `register(subparsers)`."""
