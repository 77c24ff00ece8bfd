"""SQL the stdlib SQLite runtime (`llmguard._storage._lite`) runs. GENERATED: do not edit.

SQLAlchemy's SQLite compilation of `llmguard._storage._schema.METADATA` and the stores' statements.
After changing the schema or a store's columns, regenerate it: ``python -m llmguard._storage._gen``
(tests/test_storage.py fails while it differs from what the schema compiles to).
"""

REVISION = "0005"
"""The schema revision `CREATE` builds (the newest migration when this was generated)."""

CREATE: tuple[str, ...] = (
    "\nCREATE TABLE cost_alerts (\n\trule TEXT NOT NULL, \n\twindow TEXT NOT NULL, \n\tfired_ns INTEGER NOT NULL, \n\tmessage TEXT NOT NULL, \n\tPRIMARY KEY (rule, window)\n)\n\n",
    "\nCREATE TABLE cost_ledger (\n\tcall_id TEXT NOT NULL, \n\tts_ns INTEGER NOT NULL, \n\tday TEXT NOT NULL, \n\tkind TEXT NOT NULL, \n\tservice TEXT NOT NULL, \n\tenvironment TEXT NOT NULL, \n\tprovider TEXT NOT NULL, \n\trequested_model TEXT, \n\tmodel TEXT, \n\tresponse_model TEXT, \n\tprompt_name TEXT, \n\tprompt_version TEXT, \n\tinput_tokens INTEGER, \n\toutput_tokens INTEGER, \n\tcache_read_tokens INTEGER, \n\tcache_write_tokens INTEGER, \n\treasoning_tokens INTEGER, \n\tcost_nanos INTEGER, \n\tduration_s FLOAT NOT NULL, \n\tttfc_s FLOAT, \n\tstatus TEXT NOT NULL, \n\terror_type TEXT, \n\trefused INTEGER DEFAULT '0' NOT NULL, \n\tuser_id TEXT, \n\tsession_id TEXT, \n\ttags TEXT, \n\tmetadata TEXT, \n\tPRIMARY KEY (call_id)\n)\n WITHOUT ROWID\n\n",
    "CREATE INDEX cost_ledger_day_cost ON cost_ledger (day, cost_nanos)",
    "CREATE INDEX cost_ledger_user ON cost_ledger (user_id, day)",
    "\nCREATE TABLE llmguard_drift_alerts (\n\trule VARCHAR(256) NOT NULL, \n\twindow VARCHAR(64) NOT NULL, \n\tfired_ns INTEGER NOT NULL, \n\tmessage TEXT, \n\tPRIMARY KEY (rule, window)\n)\n\n",
    "\nCREATE TABLE llmguard_drift_vectors (\n\tid INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, \n\tcall_id VARCHAR(64) NOT NULL, \n\tcreated_ns INTEGER NOT NULL, \n\tprompt_name VARCHAR(256), \n\tprompt_version VARCHAR(64), \n\ttags TEXT, \n\tmodel VARCHAR(256), \n\tdim INTEGER NOT NULL, \n\tvector BLOB NOT NULL, \n\tcontent TEXT\n)\n\n",
    "CREATE INDEX ix_llmguard_drift_vectors_created ON llmguard_drift_vectors (created_ns)",
    "\nCREATE TABLE llmguard_feedback (\n\tid INTEGER NOT NULL, \n\tcall_id TEXT NOT NULL, \n\tname TEXT NOT NULL, \n\tuser_id TEXT DEFAULT '' NOT NULL, \n\tvalue_type TEXT NOT NULL, \n\tscore FLOAT, \n\tlabel TEXT, \n\tvalue_json TEXT NOT NULL, \n\tcomment TEXT, \n\tmetadata TEXT, \n\ttrace_id TEXT, \n\tspan_id TEXT, \n\tresponse_id TEXT, \n\tprompt_name TEXT, \n\tprompt_version TEXT, \n\tmodel TEXT, \n\tsource TEXT NOT NULL, \n\tnegative INTEGER DEFAULT '0' NOT NULL, \n\tjudging TEXT, \n\tcontent TEXT, \n\tcreated_at TEXT NOT NULL, \n\tupdated_at TEXT NOT NULL, \n\trevisions INTEGER DEFAULT '1' NOT NULL, \n\tsession_id TEXT, \n\tPRIMARY KEY (id), \n\tCONSTRAINT llmguard_feedback_key UNIQUE (call_id, name, user_id)\n)\n\n",
    "CREATE INDEX llmguard_feedback_prompt ON llmguard_feedback (prompt_name, prompt_version, model)",
    "CREATE INDEX llmguard_feedback_trace ON llmguard_feedback (trace_id)",
    "\nCREATE TABLE llmguard_feedback_content (\n\tcall_id TEXT NOT NULL, \n\tcontent TEXT NOT NULL, \n\tcreated_at TEXT NOT NULL, \n\tPRIMARY KEY (call_id)\n)\n\n",
    "\nCREATE TABLE llmguard_judgments (\n\tid INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, \n\tcreated_ns INTEGER NOT NULL, \n\tcall_id TEXT NOT NULL, \n\ttrace_id TEXT, \n\tspan_id TEXT, \n\tresponse_id TEXT, \n\tprompt_name TEXT, \n\tprompt_version TEXT, \n\tjudge TEXT NOT NULL, \n\tstatus TEXT NOT NULL, \n\tscore FLOAT, \n\tnormalized FLOAT, \n\tlabel TEXT, \n\tpassed INTEGER, \n\treason TEXT, \n\tfingerprint TEXT, \n\terror_type TEXT, \n\tlatency_s FLOAT\n)\n\n",
    "CREATE INDEX llmguard_judgments_call ON llmguard_judgments (call_id)",
    "CREATE INDEX llmguard_judgments_created ON llmguard_judgments (created_ns)",
    "\nCREATE TABLE llmguard_review_queue (\n\tcall_id VARCHAR(64) NOT NULL, \n\treason VARCHAR(64) NOT NULL, \n\tenqueued_ns INTEGER NOT NULL, \n\tprompt_name VARCHAR(256), \n\tprompt_version VARCHAR(64), \n\tmodel VARCHAR(256), \n\ttags TEXT NOT NULL, \n\tcontent TEXT NOT NULL, \n\tPRIMARY KEY (call_id)\n)\n\n",
    "CREATE INDEX ix_llmguard_review_queue_enqueued_ns ON llmguard_review_queue (enqueued_ns)",
    "\nCREATE TABLE llmguard_rollout_events (\n\tid INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, \n\tname VARCHAR(200) NOT NULL, \n\tlabel VARCHAR(64) NOT NULL, \n\trollout_id VARCHAR(64) NOT NULL, \n\taction VARCHAR(16) NOT NULL, \n\trevision INTEGER NOT NULL, \n\tcreated_ns INTEGER NOT NULL, \n\tbody TEXT NOT NULL\n)\n\n",
    "CREATE INDEX ix_llmguard_rollout_events_name ON llmguard_rollout_events (name)",
    "\nCREATE TABLE llmguard_rollouts (\n\tname VARCHAR(200) NOT NULL, \n\tlabel VARCHAR(64) NOT NULL, \n\trollout_id VARCHAR(64) NOT NULL, \n\trevision INTEGER NOT NULL, \n\tstatus VARCHAR(16) NOT NULL, \n\tstate TEXT NOT NULL, \n\tupdated_ns INTEGER NOT NULL, \n\tPRIMARY KEY (name, label)\n)\n\n",
    "\nCREATE TABLE prompt_label_history (\n\tid INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, \n\tkind TEXT NOT NULL, \n\tname TEXT NOT NULL, \n\tmove TEXT NOT NULL\n)\n\n",
    "CREATE INDEX prompt_label_history_name ON prompt_label_history (kind, name, id)",
    "\nCREATE TABLE prompt_labels (\n\tkind TEXT NOT NULL, \n\tname TEXT NOT NULL, \n\tlabel TEXT NOT NULL, \n\ttarget TEXT NOT NULL, \n\tPRIMARY KEY (kind, name, label)\n)\n\n",
    "\nCREATE TABLE prompt_versions (\n\tkind TEXT NOT NULL, \n\tname TEXT NOT NULL, \n\tversion TEXT NOT NULL, \n\tcontent_hash TEXT NOT NULL, \n\tbody TEXT NOT NULL, \n\tcreated TEXT, \n\tPRIMARY KEY (kind, name, version)\n)\n\n",
    "\nCREATE TABLE llmguard_alembic_version (\n\tversion_num VARCHAR(32) NOT NULL, \n\tCONSTRAINT llmguard_alembic_version_pkc PRIMARY KEY (version_num)\n)\n\n",
)
"""A new database: every table and index of ``METADATA``, then Alembic's revision table."""

STAMP = "INSERT INTO llmguard_alembic_version (version_num) VALUES (?)"
"""Records the revision in a new database (parameter: the revision)."""

LEDGER_INSERT = "INSERT INTO cost_ledger (call_id, ts_ns, day, kind, service, environment, provider, requested_model, model, response_model, prompt_name, prompt_version, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nanos, duration_s, ttfc_s, status, error_type, refused, user_id, session_id, tags, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
"""One ledger row (`llmguard.cost._ledger.COLUMNS` order); a known ``call_id`` is ignored."""

JUDGMENTS_INSERT = "INSERT INTO llmguard_judgments (created_ns, call_id, trace_id, span_id, response_id, prompt_name, prompt_version, judge, status, score, normalized, label, passed, reason, fingerprint, error_type, latency_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
"""One judgment (`llmguard.judging._sinks.COLUMNS` order)."""

LEDGER_CALL_ID = "SELECT cost_ledger.call_id \nFROM cost_ledger \nWHERE cost_ledger.call_id = ?"
"""The ledger row of a call id, if stored (feedback's known-call check)."""

ALERT_CLAIM = (
    "INSERT INTO cost_alerts (rule, window, fired_ns, message) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
"""Claims a budget alert's (rule, window): one row changed when this process delivers it."""
