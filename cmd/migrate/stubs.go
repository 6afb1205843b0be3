package main

import "github.com/urfave/cli/v2"

// Subcommands whose issues have not landed yet: each has its help text and exits 2.

func applyCommand() *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Usage:     "run the safe plan on a live database",
		ArgsUsage: "FILE...",
		Description: `Runs expand, backfill and non-breaking contract steps with short lock timeouts,
bounded retries and a throttled backfill; breaking steps wait for 'migrate complete'.

Examples:
   migrate apply --dsn postgres://app@db/prod migrations/0042_add_fk.sql
   migrate apply --batch 1000 --max-lag 1s --replica-dsn postgres://app@replica/prod migrations/0043.sql`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "batch", Value: 1000, Usage: "starting backfill batch size"},
			&cli.DurationFlag{Name: "lock-timeout", Value: 2e9, Usage: "lock_timeout for each strong-lock step"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the plan with the database's facts, change nothing"},
		},
		OnUsageError: onUsageError,
		Action:       notImplemented("apply"),
	}
}

func completeCommand() *cli.Command {
	return &cli.Command{
		Name:  "complete",
		Usage: "run the breaking contract steps of an applied migration",
		Description: `Examples:
   migrate complete --dsn postgres://app@db/prod`,
		OnUsageError: onUsageError,
		Action:       notImplemented("complete"),
	}
}

func rollbackCommand() *cli.Command {
	return &cli.Command{
		Name:  "rollback",
		Usage: "undo the expand steps of an unfinished migration",
		Description: `Examples:
   migrate rollback --dsn postgres://app@db/prod`,
		OnUsageError: onUsageError,
		Action:       notImplemented("rollback"),
	}
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show where each migration and step stands",
		Description: `Examples:
   migrate status --dsn postgres://app@db/prod
   migrate status --format json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output format: text or json"},
		},
		OnUsageError: onUsageError,
		Action:       notImplemented("status"),
	}
}
