"""Gateway: the REST/OpenAPI face of Kefu for agents, the customer app and partners."""
