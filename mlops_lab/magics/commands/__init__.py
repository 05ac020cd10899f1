"""One module per `%mlops` subcommand; see mlops_lab.magics for the contract."""
