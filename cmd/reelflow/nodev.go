//go:build nodev

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// devstackIncluded reports whether this binary carries the embedded dev stack.
const devstackIncluded = false

// devCommand explains that this build left the dev stack out, to stay small.
func (a *app) devCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "dev",
		Short: "Not in this build (built with -tags nodev): run `go run ./cmd/reelflow dev` from a checkout",
		RunE: func(*cobra.Command, []string) error {
			return &exitError{code: 2, err: errors.New("this reelflow binary was built without the embedded dev stack (-tags nodev); " +
				"use `go run ./cmd/reelflow dev` from a checkout, or docker compose")}
		},
	}
}
