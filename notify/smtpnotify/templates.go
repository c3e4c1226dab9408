package smtpnotify

import (
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"

	"github.com/actas/actas/store"
)

// Data is what the subject, text and HTML templates are executed with:
// the notice (its fields are promoted: {{.ImpersonatorName}},
// {{.Reason}}, {{.Time}}) and what the notifier adds.
//
// Every string of the notice is one line: control characters (CR, LF, tab
// and the rest) are replaced by spaces before the templates see them, so
// that a name or a reason cannot start a header or forge a line of the
// message. The HTML template escapes the values as html/template does.
type Data struct {
	store.Notice
	// Application is the client's name, or its ID when it has none.
	Application string
	// AccountURL is where the user sees and ends impersonations of their
	// account ([WithAccountURL]); empty when not set.
	AccountURL string
}

// DefaultSubject is the default subject template (text/template). The
// rendered subject is made one line (control characters become spaces)
// before it becomes a header.
const DefaultSubject = `{{.ImpersonatorName}} acted as you in {{.Application}}`

// DefaultText is the default plain-text body template (text/template).
const DefaultText = `Hello {{.UserName}},

{{.ImpersonatorName}}{{if ne .ImpersonatorName .ImpersonatorID}} ({{.ImpersonatorID}}){{end}} started acting as you in
{{.Application}}{{with .OrgName}} ({{.}}){{end}} on {{.Time.Format "Monday, 2 January 2006 at 15:04:05 MST"}}.
They see what you see there and act on your behalf.

Reason given: {{if .Reason}}"{{.Reason}}"{{else}}none{{end}}

{{if .AccountURL}}To see this impersonation or end it, open
{{.AccountURL}}
{{else}}If you did not expect this, tell your administrator.
{{end}}
You receive this message each time someone starts acting as you.
`

// DefaultHTML is the default HTML body template (html/template).
const DefaultHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.ImpersonatorName}} acted as you</title></head>
<body style="font-family: sans-serif; line-height: 1.4">
<p>Hello {{.UserName}},</p>
<p><strong>{{.ImpersonatorName}}</strong>{{if ne .ImpersonatorName .ImpersonatorID}} ({{.ImpersonatorID}}){{end}} started acting as you in
<strong>{{.Application}}</strong>{{with .OrgName}} ({{.}}){{end}} on
<time datetime="{{.Time.Format "2006-01-02T15:04:05Z07:00"}}">{{.Time.Format "Monday, 2 January 2006 at 15:04:05 MST"}}</time>.
They see what you see there and act on your behalf.</p>
<p>Reason given: {{if .Reason}}&ldquo;{{.Reason}}&rdquo;{{else}}none{{end}}</p>
{{if .AccountURL}}<p><a href="{{.AccountURL}}">See this impersonation or end it</a></p>
{{else}}<p>If you did not expect this, tell your administrator.</p>
{{end}}<p style="color: #666">You receive this message each time someone starts acting as you.</p>
</body></html>
`

// templates are the three templates of a notifier.
type templates struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// defaultTemplates parses the defaults; they are constants, so an error is
// a bug caught by the tests.
func defaultTemplates() templates {
	return templates{
		subject: texttemplate.Must(texttemplate.New("subject").Parse(DefaultSubject)),
		text:    texttemplate.Must(texttemplate.New("text").Parse(DefaultText)),
		html:    htmltemplate.Must(htmltemplate.New("html").Parse(DefaultHTML)),
	}
}

// render executes the templates with d: the subject made one line.
func (t templates) render(d Data) (subject, text, html string, err error) {
	var b strings.Builder
	if err := t.subject.Execute(&b, d); err != nil {
		return "", "", "", err
	}
	subject = strings.Join(strings.Fields(oneLine(b.String())), " ")
	b.Reset()
	if err := t.text.Execute(&b, d); err != nil {
		return "", "", "", err
	}
	text = b.String()
	b.Reset()
	if err := t.html.Execute(&b, d); err != nil {
		return "", "", "", err
	}
	return subject, text, b.String(), nil
}

// dataOf is the template data of n: every string one line.
func dataOf(n store.Notice, accountURL string) Data {
	for _, s := range []*string{&n.UserID, &n.UserName, &n.Email, &n.ImpersonatorID, &n.ImpersonatorName,
		&n.ClientID, &n.ClientName, &n.Org, &n.OrgName, &n.Reason} {
		*s = oneLine(*s)
	}
	n.Time = n.Time.UTC()
	app := n.ClientName
	if app == "" {
		app = n.ClientID
	}
	return Data{Notice: n, Application: app, AccountURL: accountURL}
}

// oneLine replaces every control character of s (CR, LF, tab, DEL, the C1
// controls) and every line or paragraph separator with a space.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// sampleData is what New executes the templates with, so that a template
// that fails on a notice fails at construction.
func sampleData(accountURL string) Data {
	return dataOf(store.Notice{
		UserID: "bob", UserName: "Bob", Email: "bob@example.com",
		ImpersonatorID: "alice", ImpersonatorName: "Alice",
		ClientID: "app", ClientName: "App", Org: "acme", OrgName: "ACME",
		Reason: "TICKET-1", Time: time.Unix(0, 0),
	}, accountURL)
}
