"""Loading a partnership's real data at go-live and after: organisations (this system's layout, the
DfE's schools list, the NHS list of GP practices), people, the programme and past attendance, from
CSV or Excel, through a page for L&D (views.py) or a command (cli.py). Both call services.run_import."""
