package main

import (
	"errors"
	"os"
	"path/filepath"
)

// repoRoot finds the repository root: the nearest directory at or above dir
// holding both cdk.json and go.mod. The CDK CLI runs the app from there, but
// the app also works from infra/ or any subdirectory.
func repoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if isFile(filepath.Join(dir, "cdk.json")) && isFile(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no directory with cdk.json and go.mod at or above the working directory")
		}
		dir = parent
	}
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
