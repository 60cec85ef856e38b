"""todo_app: the todo manager, split into models, storage, rendering, commands and the CLI."""
