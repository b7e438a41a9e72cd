package stack

import (
	"context"
	"io"
)

// For the integration tests, which are in package stack_test.

// CheckAWSSDK is checkAWSSDK (docker_test.go).
var CheckAWSSDK = checkAWSSDK

// InstallMetastoreJars installs the metastore's jars into cache if they
// are missing and returns their directory.
func InstallMetastoreJars(ctx context.Context, cache string, progress io.Writer) (string, error) {
	in := &installer{cache: cache, progress: progress}
	return hmsLibs(cache), in.installHMS(ctx)
}
