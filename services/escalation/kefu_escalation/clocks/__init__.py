"""SLA clocks: the pure model (`model`), the one writer of ``clock_ticket`` (`store`), the
projection of the inbox into clock events (`projector`) and the timer that fires them (`timer`)."""
