package ident

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"purchase_sword", "purchase_sword", true},
		{"User-Agent", "user_agent", true},
		{"Host", "host", true},
		{"page.view count", "page_view_count", true},
		{"a" + strings.Repeat("b", 62), "a" + strings.Repeat("b", 62), true},
		{"a" + strings.Repeat("b", 63), "", false}, // 64 characters
		{"", "", false},
		{"1st", "", false},
		{"_private", "", false},
		{"../../x", "", false},
		{"a/b", "", false},
		{"a;DROP TABLE t", "", false},
		{`a"b`, "", false},
		{"épée", "", false},
		{"tab\there", "", false},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.in)
		if !tt.ok {
			require.Error(t, err, "%q", tt.in)
			continue
		}
		require.NoError(t, err, "%q", tt.in)
		require.Equal(t, tt.want, got)
		require.True(t, Valid(got))
	}
	require.False(t, Valid("User-Agent"), "valid means already normalized")
}

// A reason quotes the character the user wrote, not the first byte of it.
func TestNormalizeQuotesWholeCharacters(t *testing.T) {
	_, err := Normalize("épée")
	require.EqualError(t, err, `contains 'é', allowed are ASCII letters, digits, '_', '-', '.' and ' '`)
	_, err = Normalize("buy_⚔")
	require.ErrorContains(t, err, `contains '⚔'`)
	_, err = Normalize("bad\xffbyte")
	require.ErrorContains(t, err, "the byte 0xff, which is not UTF-8")
}
