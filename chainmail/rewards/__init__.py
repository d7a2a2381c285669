"""The rewards edges: settings of the points table, and the awards that follow sign-ins and referrals."""
