package activities

import "net/http"

// WithHTTPTransport wraps the transport of the client that downloads outputs and posts
// notifications: cmd/ passes tracing's, so that a notification is a span under its
// activity. Give it after WithHTTPClient, which it would otherwise be replaced by.
func WithHTTPTransport(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(a *Activities) {
		if a.http == nil {
			a.http = defaultHTTPClient()
		}
		c := *a.http
		base := c.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		c.Transport = wrap(base)
		a.http = &c
	}
}
