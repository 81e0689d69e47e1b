-- The publish gate (`Queue::begin_publish`): a run marks itself `publishing` right before it pushes, and
-- from then on no stop or cancel flags it. `publishing` and `cancel_requested` are never both true: the
-- gate sets one only while the other is false, in one statement (see `queue::control`); the CHECK makes
-- the state where both a stop and a publish won unrepresentable.
--
-- `stopped_by` is the `/metagpt stop` job that reached a run job first (cancelled it, flagged it, or
-- found it already publishing), so a retried stop reports what its first attempt did.

ALTER TABLE jobs ADD COLUMN publishing BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE jobs ADD COLUMN stopped_by BIGINT;
ALTER TABLE jobs ADD CONSTRAINT jobs_never_stopped_and_publishing
    CHECK (NOT (publishing AND cancel_requested));
