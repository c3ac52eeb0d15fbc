from trdpath.cli import main

main()
