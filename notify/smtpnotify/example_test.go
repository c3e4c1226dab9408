package smtpnotify_test

import (
	"log"
	"net/url"
	"os"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/notify/smtpnotify"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
)

// ExampleNew wires the notifier into a service: each impersonation start
// then sends the user an email through the submission server, over
// STARTTLS, authenticated. (No output: it needs a mail server.)
func ExampleNew() {
	server := url.URL{Scheme: "smtp", User: url.UserPassword("notices", os.Getenv("SMTP_PASSWORD")), Host: "mail.example.com:587"}
	n, err := smtpnotify.New(server.String(), "ACME ID <no-reply@acme.example>",
		smtpnotify.WithAccountURL("https://id.acme.example/account"))
	if err != nil {
		log.Fatal(err)
	}
	db := memory.New()
	keys, err := memory.GenerateKeySet(store.ES256)
	if err != nil {
		log.Fatal(err)
	}
	_, err = impersonation.New("https://id.acme.example", impersonation.Stores{
		Clients: db, Users: db, Organizations: db, Grants: db, OneTimeUse: db, Keys: keys,
	}, impersonation.WithAuditor(db), impersonation.WithNotifier(n))
	if err != nil {
		log.Fatal(err)
	}
}
