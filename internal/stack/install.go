package stack

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// DefaultCacheDir is where installs go: $SILT_CACHE_DIR, else ~/.cache/silt.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("SILT_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory: %w", err)
	}
	return filepath.Join(d, "silt"), nil
}

// installer builds things into the cache, printing progress as it goes.
type installer struct {
	cache    string
	progress io.Writer
}

func (in *installer) say(format string, args ...any) {
	fmt.Fprintf(in.progress, "silt stack: "+format+"\n", args...)
}

// once runs build unless done reports the install is present, holding a
// file lock so that test binaries starting together build it only once.
func (in *installer) once(name string, done func() bool, build func() error) error {
	if done() {
		return nil
	}
	if err := os.MkdirAll(in.cache, 0o755); err != nil {
		return fmt.Errorf("create cache %s: %w", in.cache, err)
	}
	lock, err := os.OpenFile(filepath.Join(in.cache, name+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("lock %s install: %w", name, err)
	}
	defer func() { _ = lock.Close() }()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s install: %w", name, err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	if done() {
		return nil
	}
	if err := build(); err != nil {
		return fmt.Errorf("install %s: %w", name, err)
	}
	return nil
}

// run runs a build tool, passing its output through as progress lines.
func (in *installer) run(ctx context.Context, cmd *exec.Cmd) error {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", cmd.Path, err)
	}
	var tail []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintf(in.progress, "  %s\n", line)
		if tail = append(tail, line); len(tail) > 20 {
			tail = tail[1:]
		}
	}
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, strings.Join(tail, "\n"))
	}
	return nil
}

// maven runs mvn in batch mode: one line per downloaded artifact, which is
// the progress a user sees on the first run.
func (in *installer) maven(ctx context.Context, dir string, args ...string) error {
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return fmt.Errorf("maven (mvn) is needed to fetch jars from Maven Central: %w", err)
	}
	cmd := exec.CommandContext(ctx, mvn, append([]string{"-B", "--no-transfer-progress"}, args...)...)
	cmd.Dir = dir
	return in.run(ctx, cmd)
}

// mavenDependencyPlugin is a goal of the pinned maven-dependency-plugin,
// as mvn takes it on the command line.
func mavenDependencyPlugin(goal string) string {
	return "org.apache.maven.plugins:maven-dependency-plugin:" + MavenDependencyPluginVersion + ":" + goal
}

// mavenFetch copies one artifact (group:artifact:version:type[:classifier])
// into the download cache and returns its path.
func (in *installer) mavenFetch(ctx context.Context, coords, file string) (string, error) {
	dl := filepath.Join(in.cache, "dl")
	dst := filepath.Join(dl, file)
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	in.say("downloading %s from Maven Central (first run only)", coords)
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dl, ".fetch-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	err = in.maven(ctx, tmp, mavenDependencyPlugin("copy"),
		"-Dartifact="+coords, "-DoutputDirectory="+tmp, "-Dmdep.useBaseVersion=true")
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", coords, err)
	}
	if err := os.Rename(filepath.Join(tmp, file), dst); err != nil {
		return "", fmt.Errorf("fetch %s: %w", coords, err)
	}
	return dst, nil
}

// untarGz unpacks a .tar.gz, dropping the first path element.
func untarGz(src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("unpack %s: %w", src, err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unpack %s: %w", src, err)
		}
		rel := stripFirst(h.Name)
		if rel == "" {
			continue
		}
		// The Trino tarball stores each jar once and hard-links its copies
		// in other plugins' directories.
		if h.Typeflag == tar.TypeLink {
			target := filepath.Join(dst, filepath.FromSlash(stripFirst(h.Linkname)))
			if err := hardLink(dst, target, rel); err != nil {
				return fmt.Errorf("unpack %s: %w", src, err)
			}
			continue
		}
		if err := writeEntry(dst, rel, h.FileInfo().Mode(), h.Typeflag == tar.TypeDir, h.Typeflag == tar.TypeSymlink, h.Linkname, tr); err != nil {
			return fmt.Errorf("unpack %s: %w", src, err)
		}
	}
}

// unzip unpacks a .zip, dropping the first path element.
func unzip(src, dst string) error {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return fmt.Errorf("unpack %s: %w", src, err)
	}
	defer func() { _ = zr.Close() }()
	for _, f := range zr.File {
		rel := stripFirst(f.Name)
		if rel == "" {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("unpack %s: %w", src, err)
		}
		err = writeEntry(dst, rel, f.Mode(), f.FileInfo().IsDir(), false, "", rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("unpack %s: %w", src, err)
		}
	}
	return nil
}

func stripFirst(name string) string {
	name = strings.TrimPrefix(name, "./")
	if i := strings.IndexByte(name, '/'); i >= 0 {
		return strings.Trim(name[i+1:], "/")
	}
	return ""
}

func writeEntry(dst, rel string, mode os.FileMode, dir, symlink bool, link string, r io.Reader) error {
	p := filepath.Join(dst, filepath.FromSlash(rel))
	if !strings.HasPrefix(p, filepath.Clean(dst)+string(filepath.Separator)) {
		return fmt.Errorf("entry %q leaves the target directory", rel)
	}
	if dir {
		return os.MkdirAll(p, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if symlink {
		return os.Symlink(link, p)
	}
	out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode.Perm()|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

func hardLink(dst, target, rel string) error {
	p := filepath.Join(dst, filepath.FromSlash(rel))
	root := filepath.Clean(dst) + string(filepath.Separator)
	if !strings.HasPrefix(p, root) || !strings.HasPrefix(target, root) {
		return fmt.Errorf("link %q leaves the target directory", rel)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.Link(target, p)
}
