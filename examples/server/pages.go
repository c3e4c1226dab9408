package main

import (
	"bytes"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/style.css
var styleCSS []byte

// pageTemplates are parsed once at start; html/template escapes every
// value for its context.
var pageTemplates = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// pageData is what every page template gets: the layout's fields and the
// page's own Body.
type pageData struct {
	Title string
	// App selects the demo app's header instead of the identity
	// server's; Brand, when set, names another app in the header.
	App   bool
	Brand string
	// SignedIn is the username shown in the header, with a sign-out
	// button; empty for nobody.
	SignedIn string
	// CSRF is the session's anti-CSRF token for the page's forms.
	CSRF string
	Body any
}

// messageBody is the Body of the "message" page.
type messageBody struct {
	Heading  string
	Text     string
	IsError  bool
	Link     string
	LinkText string
}

// render writes the page name with status. Pages are never cached.
func render(w http.ResponseWriter, logger *slog.Logger, status int, name string, pd pageData) {
	var buf bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&buf, name, pd); err != nil {
		logger.Error("render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// message renders a short page with a heading, a text and a link.
func message(w http.ResponseWriter, logger *slog.Logger, status int, pd pageData, body messageBody) {
	if pd.Title == "" {
		pd.Title = body.Heading
	}
	pd.Body = body
	render(w, logger, status, "message", pd)
}

// serveStyle serves the stylesheet.
func serveStyle(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(styleCSS)
}
