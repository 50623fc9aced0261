-- log_nodes keeps the perfect subtree hashes of level 4 and above only (LX_MERKLE_STORED_LEVEL, src/billing/merkle.h).
--
-- A node below level 4 covers at most 8 leaves, and the server computes it from their entries in log_entries (each
-- entry is its leaf's preimage) whenever a root or a proof needs it (src/billing/tlog_nodes.c). Storing every level
-- wrote about two rows per receipt (the leaf itself and, on average, one node above it): in the market bench the
-- sequencer's costliest statement, and about 140 bytes per receipt kept forever with their index. From level 4 up it
-- is one row per eight receipts; a proof reads at most 16 more entries per node it computes instead of one row.
-- Roots, proofs and heads are unchanged: they are the same RFC 6962 hashes, computed from other stored rows.
--
-- The rows below level 4 are deleted here (the log's only deletion: log_nodes_keep refuses any other), and a CHECK
-- keeps them from coming back. The audit no longer compares stored leaf hashes (there are none; its log_leaf finding
-- is gone): every stored node, the entries against their receipts and every signed head's root still are.
ALTER TABLE log_nodes DISABLE TRIGGER log_nodes_keep;
DELETE FROM log_nodes WHERE level < 4;
ALTER TABLE log_nodes ENABLE TRIGGER log_nodes_keep;
ALTER TABLE log_nodes DROP CONSTRAINT log_nodes_level_check,
  ADD CONSTRAINT log_nodes_level_check CHECK (level BETWEEN 4 AND 63);
