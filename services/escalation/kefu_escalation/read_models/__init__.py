"""Read models: a ticket's SLA view (`ticket_sla`), the SLA report (`reports`) and the what-if
preview of a draft matrix (`whatif`). They read; they write no table."""
