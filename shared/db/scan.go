package db

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// registerScans plans once, per connection, the scans rows are commonly
// read with: a timestamptz into *time.Time, and the nullable text,
// varchar, bool and timestamptz columns into pointers (**string, **bool,
// **time.Time). pgx plans each column of each query again, and for these
// targets wraps them in a plan it allocates: one to three allocations a
// column. The plans made here do what pgx's do, through the same codecs.
func registerScans(m *pgtype.Map) {
	replan[string](m, "text", nil)
	replan[string](m, "varchar", nil)
	replan[bool](m, "bool", nil)
	replan[time.Time](m, "timestamptz", func(t *pgtype.Type, format int16) pgtype.ScanPlan {
		if next := t.Codec.PlanScan(m, t.OID, format, new(timeTarget)); next != nil {
			return &timeScan{next: next}
		}
		return nil
	})
}

// replan registers type name again with its scans into *T and **T
// planned once. value plans the scan into *T in a format; nil asks the
// type's codec.
func replan[T any](m *pgtype.Map, name string, value func(t *pgtype.Type, format int16) pgtype.ScanPlan) {
	t, ok := m.TypeForName(name)
	if !ok {
		return
	}
	if value == nil {
		value = func(t *pgtype.Type, format int16) pgtype.ScanPlan { return t.Codec.PlanScan(m, t.OID, format, new(T)) }
	}
	c := &plannedCodec[T]{Codec: t.Codec}
	for _, f := range []int16{pgtype.TextFormatCode, pgtype.BinaryFormatCode} {
		if c.value[f] = value(t, f); c.value[f] != nil {
			c.pointer[f] = &pointerScan[T]{next: c.value[f]}
		}
	}
	m.RegisterType(&pgtype.Type{Name: t.Name, OID: t.OID, Codec: c})
}

// plannedCodec is a codec with its scans into *T and **T planned once.
type plannedCodec[T any] struct {
	pgtype.Codec
	// value and pointer scan into *T and **T, by format code; nil leaves
	// the planning to the codec.
	value, pointer [2]pgtype.ScanPlan
}

func (c *plannedCodec[T]) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if format == pgtype.TextFormatCode || format == pgtype.BinaryFormatCode {
		var plan pgtype.ScanPlan
		switch target.(type) {
		case *T:
			plan = c.value[format]
		case **T:
			plan = c.pointer[format]
		}
		if plan != nil {
			return plan
		}
	}
	return c.Codec.PlanScan(m, oid, format, target)
}

// pointerScan reads a nullable column into a **T as pgx does: nil for
// NULL, else a new T.
type pointerScan[T any] struct{ next pgtype.ScanPlan }

func (p *pointerScan[T]) Scan(src []byte, dst any) error {
	d := dst.(**T)
	if src == nil {
		*d = nil
		return nil
	}
	*d = new(T)
	return p.next.Scan(src, *d)
}

// timeScan reads a timestamptz into a *time.Time through the codec's plan
// for a pgtype.TimestamptzScanner.
type timeScan struct{ next pgtype.ScanPlan }

func (p *timeScan) Scan(src []byte, dst any) error {
	return p.next.Scan(src, (*timeTarget)(dst.(*time.Time)))
}

// timeTarget takes a timestamptz as pgx's own *time.Time wrapper does:
// NULL and the infinities are errors.
type timeTarget time.Time

func (t *timeTarget) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid {
		return fmt.Errorf("cannot scan NULL into *time.Time")
	}
	switch v.InfinityModifier {
	case pgtype.Finite:
		*t = timeTarget(v.Time)
		return nil
	case pgtype.Infinity:
		return fmt.Errorf("cannot scan Infinity into *time.Time")
	case pgtype.NegativeInfinity:
		return fmt.Errorf("cannot scan -Infinity into *time.Time")
	default:
		return fmt.Errorf("invalid InfinityModifier: %v", v.InfinityModifier)
	}
}
