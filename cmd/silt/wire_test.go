package main

import (
	"errors"
	"flag"
	"io"
	"testing"
)

func TestParseWithArgTakesOneArgumentBeforeOrAfterFlags(t *testing.T) {
	tests := []struct {
		args    []string
		arg     string
		out     string
		invalid bool
	}{
		{args: []string{"q", "--out", "f"}, arg: "q", out: "f"},
		{args: []string{"--out", "f", "q"}, arg: "q", out: "f"},
		{args: []string{"--out", "f"}, arg: "", out: "f"},
		{args: []string{"q", "r"}, invalid: true},
		{args: []string{"--out", "f", "q", "r"}, invalid: true},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		out := fs.String("out", "", "")
		arg, err := parseWithArg(fs, tt.args)
		if tt.invalid {
			if !errors.Is(err, errUsage) {
				t.Fatalf("%v: err %v, want usage", tt.args, err)
			}
			continue
		}
		if err != nil || arg != tt.arg || *out != tt.out {
			t.Fatalf("%v: got %q out %q err %v", tt.args, arg, *out, err)
		}
	}
}
