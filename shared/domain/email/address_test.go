package email

import (
	"fmt"
	"net/mail"
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestParseAddresses(t *testing.T) {
	tests := []struct {
		name, header string
		want         []Address
	}{
		{"empty", "  ", nil},
		{"bare", "grace@example.com", []Address{{Email: "grace@example.com"}}},
		{"angle only", "<grace@example.com>", []Address{{Email: "grace@example.com"}}},
		{"display name", "Grace Hopper <grace@example.com>", []Address{{Name: "Grace Hopper", Email: "grace@example.com"}}},
		{"quoted name with comma", `"Hopper, Grace" <grace@example.com>, alan@example.org`,
			[]Address{{Name: "Hopper, Grace", Email: "grace@example.com"}, {Email: "alan@example.org"}}},
		{"odd casing", "GRACE <Grace.Hopper@EXAMPLE.COM>", []Address{{Name: "GRACE", Email: "grace.hopper@example.com"}}},
		{"comment as name", "grace@example.com (Grace Hopper)", []Address{{Name: "Grace Hopper", Email: "grace@example.com"}}},
		{"utf-8 base64 word", "=?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <jm@example.de>", []Address{{Name: "Jürgen Müller", Email: "jm@example.de"}}},
		{"utf-8 q word", "=?utf-8?q?Ren=C3=A9e?= <renee@example.fr>", []Address{{Name: "Renée", Email: "renee@example.fr"}}},
		{"iso-8859-1 word", "=?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>", []Address{{Name: "André", Email: "andre@example.fr"}}},
		{"windows-1252 word", "=?windows-1252?Q?Ren=E9_=93Ace=94?= <ace@example.com>", []Address{{Name: "René “Ace”", Email: "ace@example.com"}}},
		{"iso-2022-jp word", "=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?= <jp@example.jp>", []Address{{Name: "テスト", Email: "jp@example.jp"}}},
		{"encoded words split", "=?UTF-8?Q?Gr=C3=A1ce?= =?UTF-8?Q?_Hopper?= <g@example.com>", []Address{{Name: "Gráce Hopper", Email: "g@example.com"}}},
		{"unknown charset keeps the address", "=?x-klingon?Q?Qapla?= <k@example.com>", []Address{{Email: "k@example.com"}}},
		{"group", "Team: ada@example.com, \"B, C\" <bc@example.com>;, dee@example.com",
			[]Address{{Email: "ada@example.com"}, {Name: "B, C", Email: "bc@example.com"}, {Email: "dee@example.com"}}},
		{"empty group", "undisclosed-recipients:;", nil},
		{"duplicates", "a@example.com, A <A@Example.com>", []Address{{Email: "a@example.com"}}},
		{"name that is the address", `"grace@example.com" <grace@example.com>`, []Address{{Email: "grace@example.com"}}},
		{"one bad among good", `"Hopper, Grace" <grace@example.com>, bad@@, alan@example.org`,
			[]Address{{Name: "Hopper, Grace", Email: "grace@example.com"}, {Email: "alan@example.org"}}},
		{"missing angle brackets", "Grace Hopper grace@example.com", []Address{{Email: "grace@example.com"}}},
		{"unclosed quote", `"Grace <grace@example.com>`, []Address{{Email: "grace@example.com"}}},
		{"semicolon list", "a@example.com; b@example.com", []Address{{Email: "a@example.com"}, {Email: "b@example.com"}}},
		{"no domain dot", "root@localhost, bob@intranet", []Address{{Email: "root@localhost"}}},
		{"not an address", "just words", nil},
		{"name with newline", "\"Grace\r\n Hopper\" <grace@example.com>", []Address{{Name: "Grace Hopper", Email: "grace@example.com"}}},
		{"plus tag", "grace+crm@example.com", []Address{{Email: "grace+crm@example.com"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, ParseAddresses(tt.header)); d != "" {
				t.Errorf("ParseAddresses(%q) (-want +got):\n%s", tt.header, d)
			}
		})
	}
}

func TestParseAddressesLimits(t *testing.T) {
	long := strings.Repeat("a", 250) + "@example.com"
	if got := ParseAddresses(long); len(got) != 0 {
		t.Errorf("address over 254 bytes kept: %v", got)
	}
	name := strings.Repeat("é", 300)
	got := ParseAddresses(`"` + name + `" <x@example.com>`)
	if len(got) != 1 || utf8.RuneCountInString(got[0].Name) != MaxNameLen {
		t.Errorf("long name: %v", got)
	}
	var b strings.Builder
	for i := range MaxAddresses + 50 {
		b.WriteString("u" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + itoa(i) + "@example.com, ")
	}
	if got := ParseAddresses(b.String()); len(got) != MaxAddresses {
		t.Errorf("kept %d addresses, want %d", len(got), MaxAddresses)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// FuzzParseAddresses checks, for any header, that parsing never panics and
// that every address it keeps is a well-formed, lower-case, unique
// mailbox that net/mail itself reads back, with a clean name.
func FuzzParseAddresses(f *testing.F) {
	for _, s := range []string{
		"Grace Hopper <grace@example.com>", `"Hopper, Grace" <grace@example.com>, alan@example.org`,
		"=?UTF-8?B?SsO8cmdlbg==?= <j@example.de>", "Team: a@x.com, b@y.org;", "undisclosed-recipients:;",
		"bad@@, <a@b.co>", "a@b.co (Comment)", `"\"quoted\"" <q@example.com>`, "=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?= <jp@example.jp>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got := ParseAddresses(header)
		if len(got) > MaxAddresses {
			t.Fatalf("%d addresses", len(got))
		}
		seen := map[string]bool{}
		for _, a := range got {
			if a.Email != strings.ToLower(a.Email) || seen[a.Email] || len(a.Email) > MaxAddressLen {
				t.Fatalf("address %q: not lower-case, repeated or too long", a.Email)
			}
			seen[a.Email] = true
			if _, ok := normalizeAddress(a.Email); !ok {
				t.Fatalf("address %q is not well-formed", a.Email)
			}
			if !utf8.ValidString(a.Name) || strings.ContainsAny(a.Name, "\r\n\t") || a.Name != strings.TrimSpace(a.Name) ||
				utf8.RuneCountInString(a.Name) > MaxNameLen {
				t.Fatalf("name %q is not clean", a.Name)
			}
			// What is kept can be written as a header and read back.
			back, err := mail.ParseAddress((&mail.Address{Name: a.Name, Address: a.Email}).String())
			if err == nil && strings.ToLower(back.Address) != a.Email {
				t.Fatalf("round trip of %q gave %q", a.Email, back.Address)
			}
		}
	})
}

func TestPolicy(t *testing.T) {
	p := WithIgnore("*@news.example.com", " ")
	for addr, want := range map[string]bool{
		"noreply@github.com":           true,
		"no-reply@accounts.google.com": true,
		"mailer-daemon@example.com":    true,
		"bounces+123@mail.example.com": true,
		"notifications@github.com":     true,
		"x@noreply.github.com":         true,
		"weekly@news.example.com":      true,
		"grace@example.com":            false,
		"replyall@example.com":         false,
		"info@example.com":             false,
	} {
		if got := p.Ignored(addr); got != want {
			t.Errorf("Ignored(%q) = %v, want %v", addr, got, want)
		}
	}
	// Ignored is path.Match over each pattern, however it skips them.
	pats := []string{"ops@example.com", "sales-*@*", `a\*b@*`, "[xy]ops@*", "?ops@*", "team@[", "bounce-*@*", "*@noreply.*", "*x*y@*", "*?@no*"}
	for _, addr := range []string{"ops@example.com", "ops@example.co", "sales-eu@x.io", "sales@x.io", "a*b@x.io", "ab@x.io",
		"xops@x.io", "zops@x.io", "qops@x.io", "team@[", "bounce-1@x.io", "bounce@x.io", "a@noreply.io", "a@noreplyio", "axby@z.io", "ayxb@z.io", "@no.io", "a@no.io", ""} {
		for _, pat := range pats {
			want, _ := path.Match(pat, addr)
			if got := (Policy{Ignore: []string{pat}}).Ignored(addr); got != want {
				t.Errorf("Ignored(%q) with %q = %v, path.Match says %v", addr, pat, got, want)
			}
		}
	}
	if (Policy{}).Ignored("weekly@news.example.com") || !(Policy{}).Ignored("noreply@x.com") {
		t.Error("the zero policy is not the default list")
	}
	for h, want := range map[string]bool{
		"":                                false,
		"auto-submitted: no":              false,
		"auto-submitted: auto-generated":  true,
		"auto-submitted: auto-replied; x": true,
		"precedence: bulk":                true,
		"precedence: List":                true,
		"precedence: first-class":         false,
	} {
		headers := map[string]string{}
		if k, v, ok := strings.Cut(h, ": "); ok {
			headers[k] = v
		}
		if got := Automated(headers); got != want {
			t.Errorf("Automated(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestParticipants(t *testing.T) {
	s := func(v string) *string { return &v }
	e := Email{
		From:    s(`"Grace Hopper" <grace@example.com>`),
		ReplyTo: s("Grace <GRACE@example.com>, helpdesk@example.com"),
		To:      s("Me <me@mine.example>, alan@example.org, noreply@example.com"),
		Cc:      s("Ada <ada@example.org>, me+crm@mine.example, ALAN@example.org"),
		Bcc:     s("boss@mine.example, linus@example.net"),
		Mailbox: s("boss@mine.example"),
	}
	got := participants(e, []string{"Me@Mine.example", "boss@mine.example"}, Policy{})
	want := []Participant{
		{Address{Name: "Grace Hopper", Email: "grace@example.com"}, RoleFrom},
		{Address{Email: "helpdesk@example.com"}, RoleReplyTo},
		{Address{Email: "alan@example.org"}, RoleTo},
		{Address{Name: "Ada", Email: "ada@example.org"}, RoleCc},
		{Address{Email: "linus@example.net"}, RoleBcc},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("participants (-want +got):\n%s", d)
	}

	// Mail sent by a machine: its senders are no one's contacts.
	e.Headers = map[string]string{"auto-submitted": "auto-generated"}
	got = participants(e, []string{"me@mine.example"}, Policy{})
	if len(got) == 0 || got[0].Role == RoleFrom || got[0].Role == RoleReplyTo {
		t.Errorf("automated mail kept its sender: %+v", got)
	}
	got = participants(e, []string{"me@mine.example"}, Policy{KeepAutomatedMail: true})
	if len(got) == 0 || got[0].Email != "grace@example.com" {
		t.Errorf("policy keeping automated mail dropped its sender: %+v", got)
	}

	// List and bulk mail: only its senders.
	for _, h := range []map[string]string{{"list-id": "<team.lists.example>"}, {"list-unsubscribe": "<mailto:x@lists.example>"}, {"precedence": " List"}} {
		e.Headers = h
		got = participants(e, []string{"me@mine.example"}, Policy{KeepAutomatedMail: true})
		if len(got) != 2 || got[0].Role != RoleFrom || got[1].Role != RoleReplyTo {
			t.Errorf("list mail %v: %+v, want its senders only", h, got)
		}
	}

	// One message to many: the first MaxParticipants, in header order.
	var to []string
	for i := range 300 {
		to = append(to, fmt.Sprintf("p%03d@example.com", i))
	}
	e.Headers = nil
	e.To = s(strings.Join(to, ", "))
	got = participants(e, []string{"me@mine.example"}, Policy{})
	if len(got) != MaxParticipants || got[0].Email != "grace@example.com" || got[MaxParticipants-1].Email != fmt.Sprintf("p%03d@example.com", MaxParticipants-3) {
		t.Errorf("%d participants of a message to 300 (first %v, last %v)", len(got), got[0], got[len(got)-1])
	}
}
