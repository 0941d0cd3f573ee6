package db

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// registerUUID makes m read and write uuid.UUID as PostgreSQL's uuid
// directly. Without it pgx goes through the type's sql.Scanner and
// driver.Valuer, and so through a string each way: a handful of
// allocations per id, on every row of every query.
func registerUUID(m *pgtype.Map) {
	m.RegisterType(&pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: uuidCodec{}})
	m.RegisterDefaultPgType(uuid.UUID{}, "uuid")
}

// uuidCodec is pgx's uuid codec, with uuid.UUID handled first.
type uuidCodec struct{ pgtype.UUIDCodec }

func (c uuidCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(uuid.UUID); ok {
		return uuidEncode{format}
	}
	return c.UUIDCodec.PlanEncode(m, oid, format, value)
}

func (c uuidCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if _, ok := target.(*uuid.UUID); ok {
		return uuidScan{format}
	}
	return c.UUIDCodec.PlanScan(m, oid, format, target)
}

type uuidEncode struct{ format int16 }

func (p uuidEncode) Encode(value any, buf []byte) ([]byte, error) {
	u := value.(uuid.UUID)
	if p.format == pgtype.BinaryFormatCode {
		return append(buf, u[:]...), nil
	}
	var s [36]byte
	encodeHex(s[:], u)
	return append(buf, s[:]...), nil
}

type uuidScan struct{ format int16 }

func (p uuidScan) Scan(src []byte, dst any) error {
	if src == nil {
		// As uuid.UUID's sql.Scanner does: NULL leaves it as it is.
		return nil
	}
	u := dst.(*uuid.UUID)
	if p.format == pgtype.BinaryFormatCode {
		if len(src) != 16 {
			return fmt.Errorf("invalid length for uuid: %v", len(src))
		}
		copy(u[:], src)
		return nil
	}
	v, err := uuid.ParseBytes(src)
	if err != nil {
		return err
	}
	*u = v
	return nil
}

// encodeHex writes u in its canonical form, as uuid.UUID.String does,
// into dst (36 bytes).
func encodeHex(dst []byte, u uuid.UUID) {
	const hex = "0123456789abcdef"
	j := 0
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst[j] = '-'
			j++
		}
		dst[j], dst[j+1] = hex[b>>4], hex[b&0x0f]
		j += 2
	}
}
