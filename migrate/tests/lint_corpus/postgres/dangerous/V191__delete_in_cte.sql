-- expect: delete-without-where
-- Clears the sessions table through a data-modifying CTE.
WITH gone AS (DELETE FROM sessions RETURNING id)
SELECT count(*) FROM gone;
