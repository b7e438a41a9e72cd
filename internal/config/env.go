package config

import (
	"fmt"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
)

// applyEnv sets every field that has an env tag and whose variable is set.
// Lists are comma-separated.
func applyEnv(cfg *Config, lookup func(string) (string, bool)) error {
	return walkEnv(reflect.ValueOf(cfg).Elem(), lookup)
}

func walkEnv(v reflect.Value, lookup func(string) (string, bool)) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Tag.Get("env") == "" {
			if err := walkEnv(fv, lookup); err != nil {
				return err
			}
			continue
		}
		name := f.Tag.Get("env")
		if name == "" {
			continue
		}
		raw, ok := lookup(name)
		if !ok {
			continue
		}
		if err := setFromString(fv, raw); err != nil {
			return fmt.Errorf("environment %s=%q: %w", name, redactIf(f, raw), err)
		}
	}
	return nil
}

func redactIf(f reflect.StructField, raw string) string {
	if f.Tag.Get("secret") == "true" {
		return "<redacted>"
	}
	return raw
}

func setFromString(fv reflect.Value, raw string) error {
	switch p := fv.Addr().Interface().(type) {
	case *Duration:
		return p.UnmarshalText([]byte(raw))
	case *Size:
		return p.UnmarshalText([]byte(raw))
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int32:
		n, err := strconv.ParseInt(raw, 10, fv.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a whole number")
		}
		fv.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("want a number")
		}
		fv.SetFloat(x)
	case reflect.Slice:
		var parts []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				parts = append(parts, s)
			}
		}
		fv.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported field kind %s", fv.Kind())
	}
	return nil
}

// readSecretFiles fills each secret from its _file form (a field tagged
// secretfile:"Name" holding a path), the way Docker and Kubernetes mount
// secrets. One trailing newline is dropped; setting both forms is an error.
func readSecretFiles(cfg *Config) error {
	return walkSecretFiles(reflect.ValueOf(cfg).Elem(), "")
}

func walkSecretFiles(v reflect.Value, prefix string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		fv := v.Field(i)
		key := prefix + strings.Split(f.Tag.Get("yaml"), ",")[0]
		if f.Type.Kind() == reflect.Struct && f.Tag.Get("env") == "" {
			if err := walkSecretFiles(fv, key+"."); err != nil {
				return err
			}
			continue
		}
		target := f.Tag.Get("secretfile")
		if target == "" || fv.String() == "" {
			continue
		}
		secret := v.FieldByName(target)
		secretField, _ := t.FieldByName(target)
		secretKey := prefix + secretField.Tag.Get("yaml")
		if secret.String() != "" {
			return fmt.Errorf("%s and %s are both set (%s and %s): keep one", secretKey, key, secretField.Tag.Get("env"), f.Tag.Get("env"))
		}
		raw, err := os.ReadFile(fv.String())
		if err != nil {
			// The path is not secret; the error names it and the key.
			return fmt.Errorf("%s (%s): read secret file: %w", key, f.Tag.Get("env"), err)
		}
		value := strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
		if value == "" {
			return fmt.Errorf("%s (%s): secret file %s is empty", key, f.Tag.Get("env"), fv.String())
		}
		secret.SetString(value)
	}
	return nil
}

// Secrets are the values of every secret key that is set, so tests and
// redaction can look for them in anything silt prints.
func (c *Config) Secrets() []string {
	var out []string
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f, fv := t.Field(i), v.Field(i)
			switch {
			case f.Type.Kind() == reflect.Struct && f.Tag.Get("env") == "":
				walk(fv)
			case f.Tag.Get("secret") == "true" && fv.String() != "":
				out = append(out, fv.String())
			}
		}
	}
	walk(reflect.ValueOf(c).Elem())
	// A password written into the Trino DSN itself is a secret too.
	if u, err := url.Parse(c.Catalog.Trino.URL); err == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			out = append(out, pw)
		}
	}
	return out
}

// Redact replaces every configured secret in s with <redacted>: the last
// guard for text that came from a library (an error quoting a URL, a
// server's message) before it reaches a log, a page or the terminal.
func (c *Config) Redact(s string) string {
	for _, secret := range c.Secrets() {
		s = strings.ReplaceAll(s, secret, "<redacted>")
	}
	return s
}
