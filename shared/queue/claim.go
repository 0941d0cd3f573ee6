package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
)

// The functions below are the consumer's side of a job's row, for
// shared/queue/worker. Every change is conditional on the state the
// caller last saw, so two deliveries of one message cannot both run it,
// and an outcome recorded after the claim lapsed and another delivery
// took it over changes nothing.

// ClaimRequest is one delivery of a job to claim: its id and how often
// its message was received.
type ClaimRequest struct {
	ID           uuid.UUID
	ReceiveCount int
}

// Claims is what ClaimAll found.
type Claims struct {
	// Claimed are the jobs now held, by id.
	Claimed map[uuid.UUID]Job
	// Others are the rows of the jobs that could not be claimed, as they
	// are; a requested id in neither map has no row.
	Others map[uuid.UUID]Job
}

// ClaimAll takes the jobs of kind for one delivery each, in one statement,
// and holds them until lease has passed. A claimed job comes back in state
// Running with Attempts counting this attempt: one more than the attempts
// recorded, and at least the message's receive count, so the row agrees
// with the queue's redrive count even when deliveries ended without an
// outcome. An id requested twice is claimed once.
//
// A job is claimable when it was sent or failed, when it is pending and
// due (a message can arrive before its sender marks it sent), or when it
// is running and its previous claim lapsed.
func ClaimAll(ctx context.Context, q db.Querier, kind string, reqs []ClaimRequest, lease time.Duration) (Claims, error) {
	out := Claims{Claimed: map[uuid.UUID]Job{}, Others: map[uuid.UUID]Job{}}
	if len(reqs) == 0 {
		return out, nil
	}
	// Text ids: statements are not described first (see db.Open).
	ids := make([]string, len(reqs))
	counts := make([]int32, len(reqs))
	for i, r := range reqs {
		ids[i], counts[i] = r.ID.String(), int32(r.ReceiveCount)
	}
	// The rows are locked in id order first, as the producer's marking
	// them sent locks them, so that a claim and a send of overlapping
	// batches wait for each other instead of deadlocking.
	claimed, err := scanJobs(q.Query(ctx, `update jobs set state = 'running', attempts = greatest(jobs.attempts + 1, c.receives),
			started_at = now(), locked_until = now() + $4::interval, updated_at = now()
		from (select id, max(receives) as receives from unnest($2::uuid[], $3::int[]) as u(id, receives) group by id) as c,
			(select id from jobs where id = any($2::uuid[]) order by id for update) as l
		where jobs.id = c.id and jobs.id = l.id and jobs.kind = $1 and (
			jobs.state in ('sent', 'failed')
			or (jobs.state = 'pending' and jobs.run_at <= now() + interval '1 second')
			or (jobs.state = 'running' and jobs.locked_until < now()))
		returning `+qualified, kind, ids, counts, lease))
	if err != nil {
		return out, fmt.Errorf("claim %s jobs: %w", kind, err)
	}
	for _, j := range claimed {
		out.Claimed[j.ID] = j
	}
	if len(claimed) == len(reqs) {
		return out, nil
	}
	var rest []string
	for _, r := range reqs {
		if _, ok := out.Claimed[r.ID]; !ok {
			rest = append(rest, r.ID.String())
		}
	}
	others, err := scanJobs(q.Query(ctx, `select `+columns+` from jobs where id = any($1::uuid[])`, rest))
	if err != nil {
		return out, fmt.Errorf("read %s jobs: %w", kind, err)
	}
	for _, j := range others {
		out.Others[j.ID] = j
	}
	return out, nil
}

// Claim is ClaimAll for one job: ok reports whether it was claimed, and
// job is the row either way. Errors: NotFound for a job without a row.
func Claim(ctx context.Context, q db.Querier, id uuid.UUID, kind string, receiveCount int, lease time.Duration) (job Job, ok bool, err error) {
	c, err := ClaimAll(ctx, q, kind, []ClaimRequest{{ID: id, ReceiveCount: receiveCount}}, lease)
	if err != nil {
		return Job{}, false, err
	}
	if j, ok := c.Claimed[id]; ok {
		return j, true, nil
	}
	if j, ok := c.Others[id]; ok {
		return j, false, nil
	}
	return Job{}, false, errs.NotFound("job")
}

// SucceedAll records that the claimed jobs succeeded, in one statement,
// and returns those recorded: a job whose claim lapsed and was taken over
// by another delivery is not.
func SucceedAll(ctx context.Context, q db.Querier, jobs []Job) (map[uuid.UUID]bool, error) {
	out := map[uuid.UUID]bool{}
	if len(jobs) == 0 {
		return out, nil
	}
	ids := make([]string, len(jobs))
	attempts := make([]int32, len(jobs))
	for i, j := range jobs {
		ids[i], attempts[i] = j.ID.String(), int32(j.Attempts)
	}
	rows, err := q.Query(ctx, `update jobs set state = 'succeeded', finished_at = now(), updated_at = now(),
			locked_until = null, last_error = null, error = null
		from unnest($1::uuid[], $2::int[]) as s(id, attempts)
		where jobs.id = s.id and jobs.state = 'running' and jobs.attempts = s.attempts
		returning jobs.id`, ids, attempts)
	if err != nil {
		return out, fmt.Errorf("record jobs succeeded: %w", db.Err(err, "job"))
	}
	done, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return out, fmt.Errorf("record jobs succeeded: %w", db.Err(err, "job"))
	}
	for _, id := range done {
		out[id] = true
	}
	return out, nil
}

// Succeed is SucceedAll for one job.
func Succeed(ctx context.Context, q db.Querier, j Job) (bool, error) {
	done, err := SucceedAll(ctx, q, []Job{j})
	return done[j.ID], err
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

// Bury makes the job id of kind dead whatever it was doing, unless it
// already finished: for a message that cannot be run at all (unreadable
// data, a job type sent to another type's queue). A row of another kind
// is not this message's job and is left alone. It reports whether the
// row changed.
func Bury(ctx context.Context, q db.Querier, id uuid.UUID, kind, message, detail string) (bool, error) {
	tag, err := q.Exec(ctx, `update jobs set state = 'dead', last_error = $3, error = $4,
			locked_until = null, updated_at = now(), finished_at = now()
		where id = $1 and kind = $2 and state not in ('succeeded', 'dead')`, id, kind, truncate(message, 500), truncate(detail, 4000))
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
