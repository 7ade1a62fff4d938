"""Disputes between two users of the marketplace (a client and a freelancer, a customer and a
pro, a student and an instructor) about a contract, job or payment, and their mediation."""
