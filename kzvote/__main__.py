from kzvote.cli import main

main()
