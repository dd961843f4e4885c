"""Operations: logs, redaction, metrics, loop time, the audit trail, admission."""
