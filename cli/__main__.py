from trialscope.cli.main import main

main()
