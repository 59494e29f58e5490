from simulations.universality.main import main

main()
