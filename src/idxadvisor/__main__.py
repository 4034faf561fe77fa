from idxadvisor.cli import main

main()
