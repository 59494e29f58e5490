from simulations.zoo.main import main

main()
