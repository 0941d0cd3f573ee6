package errs

// Permanent marks err as a failure that retrying cannot fix, such as a
// Google grant the user has revoked: a job that fails with it is not
// retried, and goes straight to its final failed state. The mark survives
// wrapping (fmt.Errorf with %w) and keeps err's kind and message: KindOf,
// As and errors.Is see through it. Permanent(nil) is nil.
//
// An error type can also mark itself permanent with a method
// Permanent() bool that returns true.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err: err}
}

type permanent struct{ err error }

func (p *permanent) Error() string   { return p.err.Error() }
func (p *permanent) Unwrap() error   { return p.err }
func (p *permanent) Permanent() bool { return true }

// IsPermanent reports whether any error in err's chain is marked permanent,
// by Permanent or by its own Permanent() bool method.
func IsPermanent(err error) bool {
	for err != nil {
		if p, ok := err.(interface{ Permanent() bool }); ok && p.Permanent() {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if IsPermanent(e) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}
