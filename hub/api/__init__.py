"""HTTP routers, one per resource; each handler is a thin shell over the library."""
