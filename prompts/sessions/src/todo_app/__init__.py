"""todo_app: the todo manager, split into models, storage, commands and the CLI."""
