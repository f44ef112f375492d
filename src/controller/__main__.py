from controller.app import main

main()
