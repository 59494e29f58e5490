from simulations.vsdl.main import main

main()
