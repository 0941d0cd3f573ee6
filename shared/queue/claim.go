package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
)

// The functions below are the consumer's side of a job's row, for
// shared/queue/worker. Every change is conditional on the state the
// caller last saw, so two deliveries of one message cannot both run it,
// and an outcome recorded after the claim lapsed and another delivery
// took it over changes nothing.

// Claim takes the job id of kind for one delivery, received receiveCount
// times, and holds it until lease has passed. The claimed job comes back
// in state Running with Attempts counting this attempt: one more than the
// attempts recorded, and at least receiveCount, so the row agrees with the
// queue's redrive count even when deliveries ended without an outcome.
//
// A job is claimable when it was sent or failed, when it is pending and
// due (a message can arrive before its sender marks it sent), or when it
// is running and its previous claim lapsed. Otherwise ok is false and job
// is the row as it is; a missing row is NotFound.
func Claim(ctx context.Context, q db.Querier, id uuid.UUID, kind string, receiveCount int, lease time.Duration) (job Job, ok bool, err error) {
	j, err := scanJob(q.Query(ctx, `update jobs set state = 'running', attempts = greatest(attempts + 1, $3),
			started_at = now(), locked_until = now() + $4::interval, updated_at = now()
		where id = $1 and kind = $2 and (
			state in ('sent', 'failed')
			or (state = 'pending' and run_at <= now() + interval '1 second')
			or (state = 'running' and locked_until < now()))
		returning `+columns, id, kind, receiveCount, lease))
	if err == nil {
		return j, true, nil
	}
	if !errs.Is(err, errs.KindNotFound) {
		return Job{}, false, fmt.Errorf("claim job %s: %w", id, err)
	}
	j, err = load(ctx, q, id)
	if err != nil {
		return Job{}, false, err
	}
	return j, false, nil
}

// Succeed records that the claimed job succeeded. It reports false when
// the claim had lapsed and another delivery took the job over.
func Succeed(ctx context.Context, q db.Querier, j Job) (bool, error) {
	tag, err := q.Exec(ctx, `update jobs set state = 'succeeded', finished_at = now(), updated_at = now(),
			locked_until = null, last_error = null, error = null
		where id = $1 and state = 'running' and attempts = $2`, j.ID, j.Attempts)
	if err != nil {
		return false, fmt.Errorf("record job %s succeeded: %w", j.ID, db.Err(err, "job"))
	}
	return tag.RowsAffected() == 1, nil
}

// Failure is the outcome of a failed attempt.
type Failure struct {
	// Dead ends the job; otherwise it is retried after RetryIn.
	Dead    bool
	RetryIn time.Duration
	// Message is safe to show the job's user; Detail is for operators.
	Message string
	Detail  string
}

// Fail records that the claimed job's attempt failed. It reports false
// when the claim had lapsed and another delivery took the job over.
func Fail(ctx context.Context, q db.Querier, j Job, f Failure) (bool, error) {
	state := Failed
	if f.Dead {
		state = Dead
	}
	tag, err := q.Exec(ctx, `update jobs set state = $3, last_error = $4, error = $5,
			run_at = now() + $6::interval, locked_until = null, updated_at = now(),
			finished_at = case when $3 = 'dead' then now() end
		where id = $1 and state = 'running' and attempts = $2`,
		j.ID, j.Attempts, state, truncate(f.Message, 500), truncate(f.Detail, 4000), f.RetryIn)
	if err != nil {
		return false, fmt.Errorf("record job %s %s: %w", j.ID, state, db.Err(err, "job"))
	}
	return tag.RowsAffected() == 1, nil
}

// Bury makes the job id dead whatever it was doing, unless it already
// finished: for a message that cannot be run at all (unreadable data, a
// kind sent to the wrong queue). It reports whether the row changed.
func Bury(ctx context.Context, q db.Querier, id uuid.UUID, message, detail string) (bool, error) {
	tag, err := q.Exec(ctx, `update jobs set state = 'dead', last_error = $2, error = $3,
			locked_until = null, updated_at = now(), finished_at = now()
		where id = $1 and state not in ('succeeded', 'dead')`, id, truncate(message, 500), truncate(detail, 4000))
	if err != nil {
		return false, fmt.Errorf("record job %s dead: %w", id, db.Err(err, "job"))
	}
	return tag.RowsAffected() == 1, nil
}

// Adopt writes the row of a job whose message came without one (a
// schedule sends straight to the queue), as sent, unless a row with its id
// exists. The id is derived from the message, so every delivery of one
// message adopts the same row.
func Adopt(ctx context.Context, q db.Querier, id uuid.UUID, p Payload) error {
	fn, ok := catalog.Lookup(p.Kind())
	if !ok {
		return fmt.Errorf("adopt job %s: no job type %q", id, p.Kind())
	}
	payload, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("adopt job %s: %w", id, err)
	}
	var owner *uuid.UUID
	if ow, ok := p.(Owned); ok {
		u := ow.Owner()
		owner = &u
	}
	_, err = q.Exec(ctx, `insert into jobs (id, kind, user_id, payload, max_attempts, state, sent_at)
		select $1, $2, $3, $4, $5, 'sent', now()
		where $3::uuid is null or exists (select 1 from users where id = $3)
		on conflict (id) do nothing`, id, p.Kind(), owner, string(payload), fn.MaxAttempts)
	if err != nil {
		return fmt.Errorf("adopt job %s: %w", id, db.Err(err, "job"))
	}
	return nil
}

// adoptNamespace derives the ids of adopted jobs from their message ids.
var adoptNamespace = uuid.MustParse("5b0c43a8-7a0e-4a8e-9d7f-2f3b1c7c8e11")

// AdoptedID is the job id of a message that came without one.
func AdoptedID(messageID string) uuid.UUID {
	return uuid.NewSHA1(adoptNamespace, []byte(messageID))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
