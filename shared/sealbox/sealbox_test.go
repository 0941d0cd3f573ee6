package sealbox_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/personalcrm/core/shared/sealbox"
)

func ring(t *testing.T, s string) *sealbox.Box {
	t.Helper()
	b, err := sealbox.ParseKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	k1 := sealbox.NewKey()
	box := ring(t, "k1:"+k1)
	secret := []byte("ya29.a0-access-token")
	ad := []byte("account:0192a000:access_token")

	sealed := box.Seal(secret, ad)
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed value contains the plaintext")
	}
	if again := box.Seal(secret, ad); bytes.Equal(again, sealed) {
		t.Fatal("two seals of one value are equal: nonce reused")
	}
	got, err := box.Open(sealed, ad)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if !bytes.Equal(got, secret) {
		t.Fatalf("open = %q, want %q", got, secret)
	}
	if id, ok := sealbox.KeyID(sealed); !ok || id != "k1" {
		t.Fatalf("KeyID = %q, %v", id, ok)
	}

	refused := map[string]func() ([]byte, error){
		"other account":   func() ([]byte, error) { return box.Open(sealed, []byte("account:0192a001:access_token")) },
		"other column":    func() ([]byte, error) { return box.Open(sealed, []byte("account:0192a000:refresh_token")) },
		"no ad":           func() ([]byte, error) { return box.Open(sealed, nil) },
		"flipped byte":    func() ([]byte, error) { return box.Open(flip(sealed, len(sealed)-5), ad) },
		"flipped key id":  func() ([]byte, error) { return box.Open(flip(sealed, 2), ad) },
		"truncated":       func() ([]byte, error) { return box.Open(sealed[:len(sealed)-1], ad) },
		"header only":     func() ([]byte, error) { return box.Open(sealed[:4], ad) },
		"empty":           func() ([]byte, error) { return box.Open(nil, ad) },
		"unknown version": func() ([]byte, error) { return box.Open(flip(sealed, 0), ad) },
		"plaintext":       func() ([]byte, error) { return box.Open(secret, ad) },
	}
	for name, open := range refused {
		if pt, err := open(); !errors.Is(err, sealbox.ErrOpen) || pt != nil {
			t.Errorf("%s: open = %q, %v; want ErrOpen", name, pt, err)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x01
	return c
}

func TestKeyRotation(t *testing.T) {
	k1, k2 := sealbox.NewKey(), sealbox.NewKey()
	ad := []byte("account:a:refresh_token")
	old := ring(t, "k1:"+k1).Seal([]byte("refresh-1"), ad)

	rotated := ring(t, "k2:"+k2+", k1:"+k1)
	if got, err := rotated.Open(old, ad); err != nil {
		t.Fatalf("rotated ring cannot open a value of the old key: %v", err)
	} else if string(got) != "refresh-1" {
		t.Fatalf("rotated ring opens a value of the old key to %q, want refresh-1", got)
	}
	if !rotated.Stale(old) {
		t.Fatal("a value of the old key is not stale")
	}
	fresh := rotated.Seal([]byte("refresh-2"), ad)
	if id, _ := sealbox.KeyID(fresh); id != "k2" || rotated.Stale(fresh) || rotated.Newest() != "k2" {
		t.Fatalf("new values sealed with %q, want the newest key k2", id)
	}

	if !bytes.HasPrefix(fresh, rotated.Prefix()) || bytes.HasPrefix(old, rotated.Prefix()) {
		t.Fatal("Prefix does not tell values of the newest key from the others")
	}
	// A key id that begins another's: the prefix still tells them apart.
	k10 := ring(t, "k10:"+sealbox.NewKey()).Seal([]byte("x"), ad)
	if bytes.HasPrefix(k10, ring(t, "k1:"+k1).Prefix()) {
		t.Fatal("a value of k10 has the prefix of k1")
	}

	retired := ring(t, "k2:"+k2)
	if _, err := retired.Open(old, ad); !errors.Is(err, sealbox.ErrOpen) || !strings.Contains(err.Error(), `"k1"`) {
		t.Fatalf("opening with a retired key: %v; want ErrOpen naming k1", err)
	}
	if got, err := retired.Open(fresh, ad); err != nil {
		t.Fatalf("open with newest only: %v", err)
	} else if string(got) != "refresh-2" {
		t.Fatalf("open with newest only = %q, want refresh-2", got)
	}
	// Same id, other key material: the value does not open.
	if _, err := ring(t, "k2:"+sealbox.NewKey()).Open(fresh, ad); !errors.Is(err, sealbox.ErrOpen) {
		t.Fatalf("opened with a different key under the same id: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	valid := sealbox.NewKey()
	short := "c2hvcnQ=" // "short"
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "no keys"},
		{"no id", ":" + valid, "id:base64key"},
		{"no colon", valid, "id:base64key"},
		{"not base64", "k1:!!!", "not base64"},
		{"short key", "k1:" + short, "32"},
		{"duplicate id", "k1:" + valid + ",k1:" + valid, "twice"},
		{"bad id", "k 1:" + valid, "letters"},
		{"trailing comma", "k1:" + valid + ",", "entry 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sealbox.ParseKeys(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), valid) || strings.Contains(err.Error(), short) {
				t.Fatalf("error shows key material: %v", err)
			}
		})
	}
	urlSafe := strings.NewReplacer("+", "-", "/", "_").Replace(valid)
	b, err := sealbox.ParseKeys(" a:" + urlSafe + " , b.2:" + strings.TrimRight(valid, "="))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b.2"}, b.KeyIDs()); diff != "" {
		t.Fatalf("key ids (-want +got):\n%s", diff)
	}
}

func TestParseRing(t *testing.T) {
	valid := sealbox.NewKey()
	keys, err := sealbox.ParseRing("a:" + valid + ",b:" + strings.TrimRight(valid, "="))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("ring of %d keys, want 2", len(keys))
	}
	if keys[0].ID != "a" {
		t.Fatalf("first key %q, want a", keys[0].ID)
	}
	if keys[1].ID != "b" {
		t.Fatalf("second key %q, want b", keys[1].ID)
	}
	if !bytes.Equal(keys[0].Key, keys[1].Key) {
		t.Fatalf("keys a and b decode to different bytes, want the same (padded and unpadded)")
	}
	if len(keys[0].Key) != 32 {
		t.Fatalf("key of %d bytes, want 32", len(keys[0].Key))
	}
	if _, err := sealbox.ParseRing("k1:!!!"); err == nil || strings.Contains(err.Error(), "!!!") {
		t.Fatalf("error %v, want one without the value", err)
	}
}

func BenchmarkSealOpen(b *testing.B) {
	box, _ := sealbox.ParseKeys("k1:" + sealbox.NewKey())
	pt := []byte(strings.Repeat("t", 200))
	ad := []byte("account:0192a000-0000-7000-8000-000000000001:access_token")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := box.Open(box.Seal(pt, ad), ad); err != nil {
			b.Fatal(err)
		}
	}
}
