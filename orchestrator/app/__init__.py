"""The application layer: one function per use case, called by both faces (cli.py and the API in
orchestrator/api/), so no behaviour exists in one face only. Functions take the store and plain
arguments, act as orchestrator.acting.current() (whom they authorise), and return plain data;
a refusal is a FullbarsError (errors.py gives the API its HTTP status)."""
