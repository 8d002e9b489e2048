"""Scoring: AI quality inspection (AI 质检) of conversations against versioned rulesets."""
